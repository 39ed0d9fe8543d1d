from rest_framework.permissions import SAFE_METHODS, BasePermission


class ReadPublicWriteAuthenticated(BasePermission):
    """Reads are public; every write needs a token (contract, Conventions).

    A method the view does not implement passes, so that the view answers 405 to everyone:
    no token would make it work, so a 401 would send the client the wrong way.
    """

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS or not hasattr(view, request.method.lower()):
            return True
        return bool(request.user and request.user.is_authenticated)
