"""Pure billing rules: plans, subscription states, entitlement policy, errors.

Nothing here imports grpc, SQLAlchemy or stripe.
"""
