"""SERVICE_ROLE=worker: a Celery worker that runs operations (and the shots of renders) for the API replicas."""
