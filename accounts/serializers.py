"""Input and output shapes of the account endpoints. Business rules live in services."""

from collections.abc import Mapping

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from accounts.models import EmailPreferences
from common.validators import header_text_validator

User = get_user_model()

# Long enough for any passphrase, short enough that hashing it is no denial of service.
PASSWORD_MAX_LENGTH = 4096


def password_field(**kwargs) -> serializers.CharField:
    # Whitespace is part of a password: DRF's default trimming would change it.
    return serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=PASSWORD_MAX_LENGTH,
        style={"input_type": "password"},
        **kwargs,
    )


def _password_min_length() -> int:
    """The length the configured `MinimumLengthValidator` asks for (1 without one)."""
    return max(
        (
            getattr(validator, "min_length", 1)
            for validator in password_validation.get_default_password_validators()
            if isinstance(validator, password_validation.MinimumLengthValidator)
        ),
        default=1,
    )


class NewPasswordField(serializers.CharField):
    """A password being chosen: the schema states the rules a schema can state. The service
    checks them (as `weak_password`, with the validators' messages), not this field."""

    schema_overrides = {
        "minLength": _password_min_length(),
        # Not entirely numeric (NumericPasswordValidator), and no NUL. Being neither a
        # common password nor too similar to the username or the email are rules too,
        # which no pattern can say: they are refused as `weak_password`.
        "pattern": r"^[^\u0000]*[^\u0000\d][^\u0000]*$",
    }


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator(), header_text_validator],
        help_text="150 characters or fewer: letters, digits and @/./+/-/_ only. "
        "Unique, whatever the case.",
    )
    email = serializers.EmailField(
        max_length=254,
        # Django's address check accepts a quoted local part holding control characters
        # ('"x\x0bX:y"@example.com'), which would break the To header of every email.
        validators=[header_text_validator],
        help_text="Unique, whatever the case; where notifications go. "
        "No control or invisible characters.",
    )
    password = NewPasswordField(
        write_only=True,
        trim_whitespace=False,
        max_length=PASSWORD_MAX_LENGTH,
        style={"input_type": "password"},
        help_text="At least 8 characters, not only digits, not a common password and not "
        "too similar to the username or the email; else 400 `weak_password`.",
    )


class TokenCreateInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = password_field()


class TokenTextField(serializers.CharField):
    """A token: a JSON string only, taken as sent. DRF's CharField also takes a number and
    makes it a string, and trims whitespace before it counts the length; a revocation of `0`,
    or of 256 characters of which 4 are spaces, would then answer 200 to a body the schema
    refuses."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class TokenRefreshInputSerializer(serializers.Serializer):
    refresh_token = TokenTextField(max_length=255)


class TokenRevokeInputSerializer(serializers.Serializer):
    token = TokenTextField(
        max_length=255, help_text="An access token or a refresh token; its partner dies with it."
    )


class TokenPairSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(help_text='Always "Bearer".')
    expires_in = serializers.IntegerField(help_text="Seconds the access token is valid for.")


class TokenRevokeSerializer(serializers.Serializer):
    revoked = serializers.BooleanField(help_text="Always true, even for an unknown token.")


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined"]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    """The new user and a first token pair, so the client is logged in at once."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(help_text='Always "Bearer".')
    expires_in = serializers.IntegerField(help_text="Seconds the access token is valid for.")


class StrictBooleanField(serializers.BooleanField):
    """JSON `true` or `false` only: DRF's own also takes "yes", "on", 1 and the like."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class EmailPreferencesSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailPreferences
        fields = list(EmailPreferences.FIELDS)
        read_only_fields = fields


class EmailPreferencesUpdateInputSerializer(serializers.Serializer):
    """Any subset of the preferences. A field it does not know is an error, not ignored: a
    misspelt preference must not look saved."""

    refuses_unknown_fields = True  # the schema says so: `additionalProperties: false`

    new_auction_announcements = StrictBooleanField(
        required=False, help_text=EmailPreferences.new_auction_announcements.field.help_text
    )
    outbid_notices = StrictBooleanField(
        required=False, help_text=EmailPreferences.outbid_notices.field.help_text
    )
    end_notices = StrictBooleanField(
        required=False, help_text=EmailPreferences.end_notices.field.help_text
    )
    watch_reminders = StrictBooleanField(
        required=False, help_text=EmailPreferences.watch_reminders.field.help_text
    )

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)
