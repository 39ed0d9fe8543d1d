"""Input and output shapes of the account endpoints. Business rules live in services."""

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

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


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="150 characters or fewer: letters, digits and @/./+/-/_ only. "
        "Unique, whatever the case.",
    )
    email = serializers.EmailField(
        max_length=254, help_text="Unique, whatever the case; where notifications go."
    )
    password = password_field(help_text="Must pass the password rules (length, not common...).")


class TokenCreateInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = password_field()


class TokenRefreshInputSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=255)


class TokenRevokeInputSerializer(serializers.Serializer):
    token = serializers.CharField(
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
