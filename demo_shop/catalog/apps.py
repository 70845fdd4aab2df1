from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "demo_shop.catalog"
    label = "catalog"
