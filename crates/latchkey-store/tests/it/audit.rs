//! `AuditStore` behaviour: records kept as written, filtered, the latest first chosen, pruned by age.
use latchkey_store::{AuditEvent, AuditQuery, AuditRecord, AuditStore, Outcome, Store};

use crate::store_test;

store_test!(
    audit_records_are_kept_as_written_and_filtered,
    |store: Store| async move {
        let records = vec![
            AuditRecord::new(AuditEvent::SignInFailed, "anonymous", 1_000)
                .address("203.0.113.7")
                .reason("unknown user or wrong password"),
            AuditRecord::new(AuditEvent::SignInSucceeded, "user:u1", 2_000)
                .subject("u1")
                .client("app")
                .address("203.0.113.7"),
            AuditRecord::new(AuditEvent::ClientCreated, "operator", 3_000).client("billing"),
            AuditRecord::new(AuditEvent::GrantRevoked, "client:app", 4_000)
                .client("app")
                .subject("u1")
                .reason("revoked at the revocation endpoint"),
        ];
        store.insert_audit(&records).await.unwrap();
        store.insert_audit(&[]).await.unwrap();

        let all = store
            .list_audit(&AuditQuery {
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(all, records);
        assert_eq!(all[0].outcome, Outcome::Failure);
        assert_eq!(all[1].outcome, Outcome::Success);

        let of_app = store
            .list_audit(&AuditQuery {
                client_id: Some("app".into()),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            of_app,
            records[1..2]
                .iter()
                .chain(&records[3..])
                .cloned()
                .collect::<Vec<_>>()
        );
        let of_user_since = store
            .list_audit(&AuditQuery {
                subject: Some("u1".into()),
                since_ms: Some(3_000),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(of_user_since, records[3..].to_vec());
        // The latest two, still oldest first.
        let latest = store
            .list_audit(&AuditQuery {
                limit: 2,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(latest, records[2..].to_vec());

        assert_eq!(store.prune_audit(2_500).await.unwrap(), 2);
        let left = store
            .list_audit(&AuditQuery {
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(left, records[2..].to_vec());
    }
);
