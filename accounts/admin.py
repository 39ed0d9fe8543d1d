"""Django's own user admin, with one check added.

Migration 0001 makes emails unique whatever their case. Django's user change form does not
know that, so saving a taken email would reach the index and answer 500; the form below
says so as a field error instead. Everything else is Django's `UserAdmin` as is.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from accounts import selectors

User = get_user_model()


class UserChangeForm(auth_forms.UserChangeForm):
    def clean_email(self) -> str:
        email = self.cleaned_data.get("email") or ""
        if selectors.user_email_is_taken(email, exclude_pk=self.instance.pk):
            raise forms.ValidationError("A user with that email address already exists.")
        return email


admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    form = UserChangeForm
