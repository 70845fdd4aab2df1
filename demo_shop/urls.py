"""URLs of the demo shop."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("", include("demo_shop.storefront.urls")),
    path("", include("demo_shop.catalog.urls")),
    path("", include("demo_shop.orders.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("recommendations/", include("recommendations.urls")),
    path("admin/", admin.site.urls),
]
