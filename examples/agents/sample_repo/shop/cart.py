"""A cart: lines of (sku, unit price in cents, quantity)."""


def total(lines: list[tuple[str, int, int]]) -> int:
    return sum(price * qty for _sku, price, qty in lines)
