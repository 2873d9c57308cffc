"""Administration: the JSON API under /api/v2/admin/ and the portal under /admin/."""

from fastapi import APIRouter

from gatehouse.web.admin import api as admin_api
from gatehouse.web.admin import portal as admin_portal

router = APIRouter()
router.include_router(admin_api.router)
router.include_router(admin_portal.router)
