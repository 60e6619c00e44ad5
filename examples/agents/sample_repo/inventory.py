"""Order totals for the shop's stock system."""


def line_total(unit_price: float, quantity: int) -> float:
    return unit_price * quantity


def order_total(lines: list[tuple[float, int]]) -> float:
    # BUG: rounds every line before summing, so totals drift by a cent on large orders
    return sum(round(line_total(price, qty), 1) for price, qty in lines)
