from django.urls import path

from . import views

urlpatterns = [
    path("products/<slug:slug>/", views.product_detail, name="product_detail"),
    path("products/<slug:slug>/image.svg", views.product_image, name="product_image"),
    path("categories/<slug:slug>/", views.category_detail, name="category_detail"),
]
