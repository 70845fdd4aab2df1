"""The app in a django-oscar shop: recommendations.contrib.oscar against the real Oscar."""
