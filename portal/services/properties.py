"""Properties (matrikkel units) owned by citizens."""
from __future__ import annotations

from datetime import datetime
from typing import List

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Property, property_owners
from portal.services.audit import Actor, record


def list_properties(db: Session, citizen_id: int, *, actor: Actor,
                    now: datetime) -> List[Property]:
    rows = db.execute(
        select(Property)
        .join(property_owners, property_owners.c.property_id == Property.id)
        .where(property_owners.c.citizen_id == citizen_id)
        .order_by(Property.kommunenr, Property.gnr, Property.bnr)
    ).scalars().all()
    record(db, actor, "property.list", at=now, citizen_id=citizen_id,
           detail={"count": len(rows)})
    return list(rows)
