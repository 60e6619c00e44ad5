from inventory import order_total


def test_order_total() -> None:
    assert order_total([(0.35, 3), (1.25, 2)]) == 3.55
