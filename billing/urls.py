from django.urls import path

from billing import views

urlpatterns = [
    path("credits/", views.credits_page, name="credits"),
    path("credits/checkout/", views.checkout, name="credits-checkout"),
    path("credits/auto-recharge/", views.auto_recharge, name="credits-auto-recharge"),
    path("credits/payments/<int:pk>/", views.payment_status, name="credits-payment-status"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
