"""GET and PATCH /api/v1/me/preferences: which categories of email a user receives."""

import pytest

from accounts import services
from accounts.models import EmailPreferences
from tests.accounts.helpers import assert_problem

URL = "/api/v1/me/preferences"
ALL_ON = {
    "new_auction_announcements": True,
    "outbid_notices": True,
    "end_notices": True,
    "watch_reminders": True,
}

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_client, user):
    return make_client(user)


@pytest.mark.parametrize("url", [URL, URL + "/"])
def test_every_preference_is_on_for_a_user_who_never_changed_them(alice, url):
    response = alice.get(url)

    assert response.status_code == 200
    assert response.json() == ALL_ON
    assert not EmailPreferences.objects.exists()  # reading creates no row


def test_patching_a_subset_changes_only_that_subset(alice, user):
    response = alice.patch(URL, {"outbid_notices": False}, format="json")

    assert response.status_code == 200
    assert response.json() == {**ALL_ON, "outbid_notices": False}
    assert alice.get(URL).json() == {**ALL_ON, "outbid_notices": False}
    preferences = EmailPreferences.objects.get(user=user)
    assert preferences.outbid_notices is False
    assert preferences.updated_at is not None


def test_patching_again_keeps_earlier_changes_and_can_turn_a_category_back_on(alice, user):
    alice.patch(URL, {"outbid_notices": False, "end_notices": False}, format="json")

    response = alice.patch(
        URL + "/", {"outbid_notices": True, "watch_reminders": False}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {**ALL_ON, "end_notices": False, "watch_reminders": False}
    assert EmailPreferences.objects.filter(user=user).count() == 1


def test_patching_nothing_answers_the_current_state_and_writes_nothing(alice):
    response = alice.patch(URL, {}, format="json")

    assert response.status_code == 200
    assert response.json() == ALL_ON
    assert not EmailPreferences.objects.exists()


def test_one_users_preferences_are_not_anothers(alice, client_for):
    alice.patch(URL, {"new_auction_announcements": False}, format="json")

    assert client_for("bob").get(URL).json() == ALL_ON


@pytest.mark.parametrize("value", ["false", "no", 0, 1, None, [], {}])
def test_a_value_that_is_not_a_json_boolean_is_400_validation_error(alice, value):
    response = alice.patch(URL, {"end_notices": value}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == ["end_notices"]
    assert not EmailPreferences.objects.exists()


def test_an_unknown_field_is_400_validation_error_naming_it(alice):
    response = alice.patch(
        URL, {"outbid_notices": False, "newsletter": False, "sms": True}, format="json"
    )

    body = assert_problem(response, 400, "validation_error")
    assert sorted(body["errors"]) == ["newsletter", "sms"]
    assert not EmailPreferences.objects.exists()  # the known field was not saved either


def test_a_body_that_is_not_an_object_is_400_validation_error(alice):
    response = alice.patch(URL, [{"outbid_notices": False}], format="json")

    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize("method", ["get", "patch"])
def test_without_a_token_it_is_401(api_client, method):
    response = getattr(api_client, method)(URL, {"outbid_notices": False}, format="json")

    assert_problem(response, 401, "not_authenticated")
    assert not EmailPreferences.objects.exists()


@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_other_methods_are_405(alice, method):
    response = getattr(alice, method)(URL, ALL_ON, format="json")

    assert_problem(response, 405, "method_not_allowed")


def test_the_service_refuses_a_field_that_is_not_a_preference(user):
    with pytest.raises(TypeError):
        services.email_preferences_update(user, is_staff=True)
