"""URLs of the app's tests: the test shop's pages, the login, the app's, and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from tests.app.shop import views

urlpatterns = [
    path("", views.home, name="home"),
    path("products/<slug:slug>/", views.product_detail, name="product_detail"),
    path("products/<slug:slug>/image.svg", views.product_image, name="product_image"),
    path("cart/add/<int:product_id>/", views.cart_add, name="cart_add"),
    path("checkout/", views.checkout, name="checkout"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("recommendations/", include("recommendations.urls")),
    path("admin/", admin.site.urls),
]
