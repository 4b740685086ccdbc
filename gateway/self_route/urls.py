"""Console URLs of the Providers page (mounted by ``gateway.console.urls``)."""

from django.urls import path

from gateway.self_route import views

urlpatterns = [
    path("providers/", views.providers, name="providers"),
    path("providers/<int:pk>/delete/", views.provider_delete, name="provider-delete"),
    path("providers/<int:pk>/key/", views.provider_key, name="provider-key"),
    path("providers/key-default/", views.key_default, name="provider-key-default"),
]
