from django.urls import path

from catalog.views import models_page

urlpatterns = [
    path("models/", models_page, name="models"),
]
