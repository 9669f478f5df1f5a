"""paymentsvc billing server: entitlements and Stripe subscriptions over gRPC."""
