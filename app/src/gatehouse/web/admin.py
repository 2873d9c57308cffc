"""Admin API and portal (placeholder router; filled in by the admin module work)."""

from fastapi import APIRouter

router = APIRouter()
