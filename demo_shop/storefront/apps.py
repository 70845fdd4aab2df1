from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "demo_shop.storefront"
    label = "storefront"
