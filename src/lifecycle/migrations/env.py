"""Alembic environment: migrations run on a connection handed over by lifecycle.db."""

from alembic import context
from sqlmodel import SQLModel

import lifecycle.models

lifecycle.models.load_all()  # every table on SQLModel.metadata, not only the core
target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")

if connection is None:  # pragma: no cover - `alembic` CLI use: build from the URL
    from sqlalchemy import create_engine

    from lifecycle.db import database_url

    with create_engine(database_url()).connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
