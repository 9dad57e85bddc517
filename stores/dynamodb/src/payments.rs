//! Payments on the table: each provider event is an item of its own, written under
//! `attribute_not_exists` in the same transaction as its effect on the order, so an event applies
//! at most once.

use crate::attributes::{b, n, s};
use crate::errors::sdk;
use crate::expression::{Compare, Expression};
use crate::holdings::{uncounted, Share, IN_HOLDINGS};
use crate::table_io::{conflict, failed, old_item, unexpected, Cancelled, NOT_EXISTS};
use crate::{items, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use orderly_core::domain::{Order, OrderEvent, OrderStatus, Timestamp};
use orderly_core::ports::{Conflict, PaymentStore, StoreError};

#[async_trait]
impl PaymentStore for DynamoStore {
    async fn payment_event_seen(&self, payment_event_id: &str) -> Result<bool, StoreError> {
        Ok(self.get(keys::payment_event(payment_event_id)).await?.is_some())
    }

    async fn mark_order_paid(
        &self,
        order: &Order,
        payment_event_id: &str,
        now: Timestamp,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        // A paid order no longer holds stock for later: its share of the user's holdings goes back
        // in the same transaction (a second call, without it, for an order placed before them).
        let mut share = Share::Counted;
        loop {
            let mut pay = Expression::default();
            pay.set("status", s(OrderStatus::Paid.as_str()))
                .set("paid_at", n(now.as_millis()))
                .set("updated_at", n(now.as_millis()))
                .set(
                    keys::GSI2PK,
                    s(keys::paid_on(now.date(), self.order_shards.of(&order.id))),
                )
                .set(keys::GSI2SK, s(keys::timed(now, &order.id)))
                .require_exists(keys::PK)
                .require("status", Compare::Equal, s(OrderStatus::PendingPayment.as_str()))
                .require("expires_at", Compare::Greater, n(now.as_millis()));
            if share == Share::Counted {
                pay.require(IN_HOLDINGS, Compare::Equal, b(true));
            }
            let mut actions = vec![
                self.update(keys::order(&order.id), &pay)?,
                self.put(items::payment_event_item(payment_event_id, now), Some(NOT_EXISTS))?,
                self.put(items::event_item(event), Some(NOT_EXISTS))?,
            ];
            let holdings_index = actions.len();
            if share == Share::Counted {
                actions.push(self.give_back_share(order)?);
            }
            return match self.transact(actions).await {
                Ok(()) => Ok(()),
                Err(Cancelled::Reasons(reasons)) if failed(&reasons, 1) => Err(conflict(Conflict::PaymentEventSeen)),
                Err(Cancelled::Reasons(reasons))
                    if share == Share::Counted && uncounted(&reasons, 0, holdings_index) =>
                {
                    share = Share::Uncounted;
                    continue;
                }
                Err(Cancelled::Reasons(reasons)) if failed(&reasons, 0) => match old_item(&reasons, 0) {
                    Some(_) => Err(conflict(Conflict::OrderClosed)),
                    None => Err(conflict(Conflict::NotFound)),
                },
                Err(Cancelled::Reasons(reasons)) => Err(unexpected("mark_order_paid", &reasons)),
                Err(Cancelled::Store(error)) => Err(error),
            };
        }
    }

    async fn flag_refund_due(&self, order: &Order, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        let mut flag = Expression::default();
        flag.set("refund_due", b(true))
            .set("updated_at", n(now.as_millis()))
            .require_exists(keys::PK);
        let actions = vec![
            self.update(keys::order(&order.id), &flag)?,
            self.put(items::payment_event_item(payment_event_id, now), Some(NOT_EXISTS))?,
        ];
        match self.transact(actions).await {
            Ok(()) => Ok(()),
            Err(Cancelled::Reasons(reasons)) if failed(&reasons, 1) => Err(conflict(Conflict::PaymentEventSeen)),
            Err(Cancelled::Reasons(reasons)) if failed(&reasons, 0) => Err(conflict(Conflict::NotFound)),
            Err(Cancelled::Reasons(reasons)) => Err(unexpected("flag_refund_due", &reasons)),
            Err(Cancelled::Store(error)) => Err(error),
        }
    }

    async fn remember_payment_event(&self, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        let answer = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::payment_event_item(payment_event_id, now)))
            .condition_expression(NOT_EXISTS)
            .send()
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service))
                if matches!(service.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Err(conflict(Conflict::PaymentEventSeen))
            }
            Err(other) => Err(sdk("PutItem", other)),
        }
    }
}
