"""Identity resolution: which Customer an address belongs to.

The walking skeleton resolves website visitors; the CRM issue adds the normalization rules for email and phones.
"""

from django.db import IntegrityError, transaction

from customers.models import Customer, Identity


def resolve_identity(*, kind: str, address: str, display_name: str = "") -> Identity:
    """The Identity for (kind, address), creating it and a new Customer the first time the address is seen.

    Safe under concurrency: two workers resolving the same new address end up with the same row.
    """
    identity = Identity.objects.select_related("customer").filter(kind=kind, address=address).first()
    if identity is not None:
        return identity
    try:
        with transaction.atomic():
            customer = Customer.objects.create(display_name=display_name)
            return Identity.objects.create(customer=customer, kind=kind, address=address)
    except IntegrityError:
        return Identity.objects.select_related("customer").get(kind=kind, address=address)
