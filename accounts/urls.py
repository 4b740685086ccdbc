from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views, views_account

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path(
        "accounts/password/reset/",
        views_account.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        views_account.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        views_account.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("account/", views_account.account, name="account"),
    path("account/email/", views_account.account_email, name="account-email"),
    path("account/password/", views_account.account_password, name="account-password"),
    path("account/time-zone/", views_account.account_time_zone, name="account-time-zone"),
    path(
        "account/callback-secret/",
        views_account.account_callback_secret,
        name="account-callback-secret",
    ),
    path("account/delete/", views_account.account_delete, name="account-delete"),
    path("keys/", views.keys, name="keys"),
    path("keys/<int:pk>/edit/", views.key_edit, name="key-edit"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="key-revoke"),
]
