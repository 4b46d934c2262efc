"""Celery adapters: ids in, one service call."""

from celery import shared_task

from customers import csv_io, gdpr


@shared_task(name=csv_io.IMPORT_TASK, acks_late=True)
def run_customer_import(import_id: int) -> dict[str, int]:
    customer_import = csv_io.run_customer_import(import_id=import_id)
    return {
        "created": customer_import.created_count,
        "updated": customer_import.updated_count,
        "errors": len(customer_import.errors),
    }


@shared_task(name=gdpr.VACUUM_TASK, ignore_result=True)
def vacuum_after_erasure() -> list[str]:
    return gdpr.vacuum_erased_tables()
