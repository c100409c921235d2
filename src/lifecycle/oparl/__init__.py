"""OParl 1.1: publish the Kommune's Vorlagen and Sitzungen, read a RIS's Sitzungskalender back.

- ``objects``: the OParl objects built from the database (public or internal view);
- ``lists``: paginated lists with the spec's filters and tombstones;
- ``validate``: the OParl 1.1 JSON Schema (local copy) and the checks clients rely on;
- ``service``: the use cases (export to a folder, sync from a RIS).
"""
