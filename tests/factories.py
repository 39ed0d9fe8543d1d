"""One factory per model, with defaults that make a valid object.

State that matters (an auction with bids) is built through the services, not these.
"""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from accounts.models import EmailPreferences
from auctions.models import Auction
from common import clock


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class AuctionFactory(factory.django.DjangoModelFactory):
    """A fresh active auction. Its bids must come from auctions.services.bid_place."""

    class Meta:
        model = Auction

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Lot {n}")
    description = "A fine thing."
    starting_price = Decimal("100.00")
    price_step = Decimal("5.00")
    currency = "USD"
    created_at = factory.LazyFunction(clock.now)
    end_time = factory.LazyFunction(lambda: clock.now() + timedelta(hours=1))
    closes_at = factory.SelfAttribute("end_time")
    current_price = factory.SelfAttribute("starting_price")


class EmailPreferencesFactory(factory.django.DjangoModelFactory):
    """A user's preferences row, every email on unless told otherwise. (A user without a
    row gets every email too; the API creates the row on the first change.)"""

    class Meta:
        model = EmailPreferences

    user = factory.SubFactory(UserFactory)
    updated_at = factory.LazyFunction(clock.now)
