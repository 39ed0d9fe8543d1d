from rest_framework.permissions import SAFE_METHODS, BasePermission


class ReadPublicWriteAuthenticated(BasePermission):
    """Reads are public; every write needs a token (contract, Conventions)."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated)
