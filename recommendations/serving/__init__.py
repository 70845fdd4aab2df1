"""The page's budget clock, the bounded inline call, rendering, the products a page shows."""
