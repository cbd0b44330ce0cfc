"""Which variant a shopper means by a size and a colour, as pure functions on a product
document (no storefront_api needed: these run in the mutation tests, docs/testing.md).

The product below comes in S and M, black and olive, but S only in black: "M" still leaves
the colour open, "S" does not; sizes and colours are matched in any letter case.
"""

from __future__ import annotations

from bot.actions.add_to_cart import not_offered, options_in_text, pick_variant

HOODIE = {"id": 7, "title": "Trail Hoodie", "variants": [
    {"id": 71, "size": "S", "color": "Black", "available": True},
    {"id": 72, "size": "M", "color": "Black", "available": True},
    {"id": 73, "size": "M", "color": "Olive", "available": False},
]}
ONE_SIZE = {"id": 8, "title": "Cap", "variants": [
    {"id": 81, "size": None, "color": "Navy Blue", "available": True},
    {"id": 82, "size": None, "color": "Red", "available": True},
]}
SINGLE = {"id": 9, "title": "Gift card", "variants": [{"id": 91, "size": None, "color": None}]}


def ids(variants: list[dict]) -> list[int]:
    return [v["id"] for v in variants]


def test_size_and_colour_name_one_variant():
    variant, missing, candidates = pick_variant(HOODIE, "m", "OLIVE")
    assert (variant["id"], missing, ids(candidates)) == (73, None, [73])


def test_nothing_said_asks_the_size_first_with_every_variant_still_possible():
    variant, missing, candidates = pick_variant(HOODIE, None, None)
    assert (variant, missing, ids(candidates)) == (None, "size", [71, 72, 73])


def test_a_size_that_comes_in_two_colours_asks_the_colour():
    variant, missing, candidates = pick_variant(HOODIE, "M", None)
    assert (variant, missing, ids(candidates)) == (None, "color", [72, 73])


def test_a_size_that_comes_in_one_colour_is_enough():
    variant, missing, candidates = pick_variant(HOODIE, "s", "")
    assert (variant["id"], missing, ids(candidates)) == (71, None, [71])


def test_a_colour_alone_asks_the_size_when_it_comes_in_several():
    variant, missing, candidates = pick_variant(HOODIE, None, "black")
    assert (variant, missing, ids(candidates)) == (None, "size", [71, 72])


def test_a_value_the_product_lacks_is_ignored_rather_than_matching_nothing():
    variant, missing, candidates = pick_variant(HOODIE, "XXL", "olive")
    assert (variant["id"], missing, ids(candidates)) == (73, None, [73])


def test_a_product_without_sizes_asks_only_the_colour():
    variant, missing, candidates = pick_variant(ONE_SIZE, None, None)
    assert (variant, missing, ids(candidates)) == (None, "color", [81, 82])
    variant, missing, _ = pick_variant(ONE_SIZE, "M", "navy blue")
    assert (variant["id"], missing) == (81, None)


def test_a_product_with_one_variant_needs_no_question():
    variant, missing, candidates = pick_variant(SINGLE, None, None)
    assert (variant["id"], missing, ids(candidates)) == (91, None, [91])


def test_a_product_without_variants_gives_none_and_asks_nothing():
    assert pick_variant({"id": 1, "variants": []}, "M", "Black") == (None, None, [])
    assert pick_variant({"id": 1}, None, None) == (None, None, [])


def test_not_offered_names_the_option_asked_in_a_value_the_product_lacks():
    assert not_offered(HOODIE, "XL", None) == "size"
    assert not_offered(HOODIE, "m", "Pink") == "color"
    assert not_offered(HOODIE, "XL", "Pink") == "size"  # the size is checked first
    assert not_offered(HOODIE, "M", "black") is None
    assert not_offered(HOODIE, None, None) is None
    assert not_offered(ONE_SIZE, "10", "red") is None  # no sizes at all: nothing to refuse


def test_options_named_in_a_bare_answer():
    assert options_in_text("m please", HOODIE) == {"size": "M"}
    assert options_in_text("The olive one, size s.", HOODIE) == {"size": "S", "color": "Olive"}
    assert options_in_text("(BLACK)!", HOODIE) == {"color": "Black"}
    assert options_in_text("maybe", HOODIE) == {}  # "m" inside a word is not the size M


def test_a_colour_of_two_words_is_found_as_a_phrase():
    assert options_in_text("the navy blue cap", ONE_SIZE) == {"color": "Navy Blue"}
    assert options_in_text("navy, not blue", ONE_SIZE) == {}
    assert options_in_text("red or navy blue", ONE_SIZE) == {"color": "Navy Blue"}


def test_the_first_value_named_in_the_product_order_wins():
    both = {"id": 1, "variants": [{"id": 1, "size": "S", "color": "Red"},
                                  {"id": 2, "size": "M", "color": "Blue"}]}
    assert options_in_text("blue or red, s or m", both) == {"size": "S", "color": "Red"}


def test_a_product_without_variants_offers_no_option_and_names_none():
    """A product document with no variants at all (a gift card, a product being set up):
    nothing is 'not offered' and no word of the answer is one of its options."""
    gift_card = {"id": 7, "title": "Gift card"}
    assert not_offered(gift_card, "M", "red") is None
    assert options_in_text("m in red please", gift_card) == {}
    assert pick_variant(gift_card, None, None) == (None, None, [])
