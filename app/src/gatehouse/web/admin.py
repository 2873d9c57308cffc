"""Administration: the JSON API under /api/v2/admin/ and the portal under /admin/."""

from fastapi import APIRouter

from . import admin_api, admin_portal

router = APIRouter()
router.include_router(admin_api.router)
router.include_router(admin_portal.router)
