"""Identity resolution: which Customer an address belongs to.

The walking skeleton resolves website visitors; the CRM issue adds the normalization rules for email and phones.
"""

from django.db import IntegrityError, transaction

from customers.models import Customer, Identity


def lock_customer_by_identity(*, kind: str, address: str, display_name: str = "") -> Customer:
    """The customer behind (kind, address), created the first time, row-locked until the transaction ends.

    Holding the lock makes one customer's inbound messages process one at a time, so that two first messages
    arriving together open one conversation, not two.
    """
    customer = (
        Customer.objects.select_for_update(of=("self",))
        .filter(identities__kind=kind, identities__address=address)
        .first()
    )
    if customer is None:
        identity = resolve_identity(kind=kind, address=address, display_name=display_name)
        customer = Customer.objects.select_for_update().get(pk=identity.customer_id)
    return customer


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
