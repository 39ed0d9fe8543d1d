from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `auth.User` is Django's: its username and email reach email headers, so they
        # refuse control characters wherever the model validates them (the admin's user
        # forms, `createsuperuser`, `full_clean`). Added to the fields' run-time validators,
        # not their `_validators`, so the migrations of `auth` do not change.
        from django.contrib.auth import get_user_model

        from common.validators import header_text_validator

        user_model = get_user_model()
        for name in (user_model.USERNAME_FIELD, user_model.get_email_field_name()):
            field = user_model._meta.get_field(name)
            if header_text_validator not in field.validators:
                field.validators.append(header_text_validator)
