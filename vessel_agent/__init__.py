"""On-board service: crew terminal, durable outbox of sealed grievances, link-aware scheduler."""
