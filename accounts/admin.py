"""Django's own user admin, with one check added, and the admin's login form.

Migration 0001 makes emails unique whatever their case. Django's user change form does not
know that, so saving a taken email would reach the index and answer 500; the form below
says so as a field error instead. Everything else is Django's `UserAdmin` as is.

The admin's login checks passwords through `accounts.services.user_authenticate`, so it
counts and refuses failed logins exactly as the API's login does.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from accounts import selectors, services
from accounts.errors import InvalidCredentials, LoginThrottled
from accounts.throttling import client_address

User = get_user_model()


class UserChangeForm(auth_forms.UserChangeForm):
    def clean_email(self) -> str:
        email = self.cleaned_data.get("email") or ""
        if selectors.user_email_is_taken(email, exclude_pk=self.instance.pk):
            raise forms.ValidationError("A user with that email address already exists.")
        return email


class AdminLoginForm(AdminAuthenticationForm):
    """Django's admin login form, with the password checked by the accounts service (and
    so under its failed-login limits). Staff only, as in Django's."""

    def clean(self) -> dict:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = services.user_authenticate(
                    username=username,
                    password=password,
                    client_address=client_address(self.request),
                    request=self.request,
                )
            except LoginThrottled as exc:
                raise forms.ValidationError(exc.detail, code="throttled") from exc
            except InvalidCredentials as exc:
                raise self.get_invalid_login_error() from exc
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


admin.site.login_form = AdminLoginForm
admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    form = UserChangeForm
