use super::*;
use crate::api::{DomainState as DomainStatus, Map, RoleType};
use crate::model::entities::Domain;
use crate::model::events::Event;
use crate::model::state::DomainState;
use proptest::prelude::*;

fn user(id: &str, name: &str, email: &str, st: u8) -> User {
    User {
        user_id: id.to_owned(),
        name: name.to_owned(),
        state: [UserState::Enabled, UserState::Disabled, UserState::Pending][st as usize % 3],
        email: email.to_owned(),
        email_verified: false,
        user_type: if st % 4 == 3 {
            UserType::ApiUser
        } else {
            UserType::User
        },
        backend: if st % 5 == 4 {
            Backend::External
        } else {
            Backend::Local
        },
        password_hash: None,
        language: "en".into(),
        timezone: "UTC".into(),
        required_actions: Vec::new(),
        tags: Map::new(),
        mfa: None,
        role_type: RoleType::User,
        role_id: None,
        last_accessed_at: None,
        created_at: 0,
        updated_at: 0,
        cred_version: 0,
        codes: Vec::new(),
        temp_password: None,
    }
}

fn state() -> DomainState {
    let d = Domain {
        domain_id: "d".into(),
        name: "d".into(),
        state: DomainStatus::Enabled,
        tags: Map::new(),
        created_at: 0,
    };
    let mut s = DomainState::new(d.clone());
    s.apply(&Event::DomainCreated(d));
    s
}

/// A canonical view of the index, independent of slot numbers and hash keys.
fn dump(ix: &UserIndex) -> Vec<String> {
    let id = |s: Slot| {
        ix.entry(s)
            .map_or("?".to_owned(), |e| e.user_id.to_string())
    };
    let mut out: Vec<String> = ix
        .order_from(0)
        .map(|s| format!("order {}", id(s)))
        .collect();
    let mut sets = Vec::new();
    for v in [UserState::Enabled, UserState::Disabled, UserState::Pending] {
        let mut ids: Vec<String> = ix.state_bits(v).iter().map(id).collect();
        ids.sort();
        sets.push(format!("{v} {ids:?}"));
    }
    for v in [Backend::Local, Backend::External] {
        let mut ids: Vec<String> = ix.backend_bits(v).iter().map(id).collect();
        ids.sort();
        sets.push(format!("{v} {ids:?}"));
    }
    for v in [UserType::User, UserType::ApiUser] {
        let mut ids: Vec<String> = ix.user_type_bits(v).iter().map(id).collect();
        ids.sort();
        sets.push(format!("{v} {ids:?}"));
    }
    out.extend(sets);
    out
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8, u8, u8),
    Delete(u8),
    Access(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..40, 0u8..6, 0u8..4, 0u8..20).prop_map(|(a, b, c, d)| Op::Put(a, b, c, d)),
        2 => (0u8..40).prop_map(Op::Delete),
        1 => (0u8..40, 0u8..3).prop_map(|(a, b)| Op::Access(a, b)),
    ]
}

fn run(ops: &[Op]) -> DomainState {
    let names = ["Kim", "kim", "Lee", "", "Émile", "Zoë İnce"];
    let mut s = state();
    for o in ops {
        let e = match *o {
            Op::Put(i, n, m, st) => {
                let id = format!("u{i}@x.io");
                let email = match m {
                    0 => id.clone(),
                    1 => String::new(),
                    2 => "shared@x.io".to_owned(),
                    _ => format!("Other{i}@X.io"),
                };
                Event::UserUpdated(user(&id, names[n as usize % names.len()], &email, st))
            }
            Op::Delete(i) => Event::UserDeleted {
                user_id: format!("u{i}@x.io"),
            },
            Op::Access(i, st) => Event::UserAccessed {
                user_id: format!("u{i}@x.io"),
                at: 1,
                state: [UserState::Enabled, UserState::Disabled, UserState::Pending][st as usize],
            },
        };
        s.apply(&e);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// After any sequence of changes, the index is what a rebuild from scratch gives.
    #[test]
    fn index_equals_a_rebuild(ops in proptest::collection::vec(op(), 0..120)) {
        let s = run(&ops);
        prop_assert_eq!(s.index.check(&s.users), Ok(()));
        let rebuilt = DomainState::from_image(s.image());
        prop_assert_eq!(rebuilt.index.check(&rebuilt.users), Ok(()));
        prop_assert_eq!(dump(&s.index), dump(&rebuilt.index));
    }
}

#[test]
fn many_changes_compact_keyword_text_and_merge_blocks() {
    let mut s = state();
    for round in 0..3 {
        for i in 0..3000 {
            let id = format!("user{i:05}@x.io");
            let name = format!("Name {} {round}", (i * 7919) % 3000);
            s.apply(&Event::UserUpdated(user(&id, &name, &id, (i % 7) as u8)));
        }
        for i in (0..3000).step_by(3) {
            s.apply(&Event::UserDeleted {
                user_id: format!("user{i:05}@x.io"),
            });
        }
        assert_eq!(s.index.check(&s.users), Ok(()));
    }
    assert!(s.index.order.len() > 1);
    let all: Vec<Slot> = s.index.order_from(0).collect();
    for k in [0, 1, 511, 512, 1000, 1999, 2000, 2500] {
        let from: Vec<Slot> = s.index.order_from(k).collect();
        assert_eq!(
            from.as_slice(),
            all.get(k..).unwrap_or_default(),
            "from {k}"
        );
    }
    let named: Vec<Slot> = s.index.name_slots("Name 7 2");
    assert_eq!(named.len(), 1);
    assert!(s.index.name_slots("Name 7").is_empty());
    let finders = [Finder::new(b"user00004@")];
    let mut hits = Bits::default();
    s.index.keyword_scan(&finders, None, &mut hits);
    let ids: Vec<String> = hits
        .iter()
        .filter_map(|h| s.index.entry(h).map(|e| e.user_id.to_string()))
        .collect();
    assert_eq!(ids, vec!["user00004@x.io".to_owned()]);
    // Every needle finds exactly the users a plain scan finds, wherever they sit in the text.
    for needle in ["user0299", "name 2999 2", "9@", "@x.io", "name 1", "zzz"] {
        let mut hits = Bits::default();
        s.index
            .keyword_scan(&[Finder::new(needle.as_bytes())], None, &mut hits);
        let mut got: Vec<String> = hits
            .iter()
            .filter_map(|h| s.index.entry(h).map(|e| e.user_id.to_string()))
            .collect();
        got.sort();
        let mut want: Vec<String> = s
            .users
            .values()
            .filter(|u| {
                [&u.user_id, &u.name, &u.email]
                    .iter()
                    .any(|f| f.to_lowercase().contains(needle))
            })
            .map(|u| u.user_id.clone())
            .collect();
        want.sort();
        assert_eq!(got, want, "{needle}");
    }
}

#[test]
fn keyword_text_is_lower_cased_per_character() {
    let mut s = state();
    s.apply(&Event::UserCreated(user("A@X.io", "ÉCOLE İ", "b@y.io", 0)));
    let slot = s.index.slot("A@X.io").unwrap();
    let hit = |w: &str| s.index.keyword_hit(slot, &[Finder::new(w.as_bytes())]);
    assert!(hit("a@x"));
    assert!(hit("école"));
    assert!(hit("b@y"));
    assert!(hit("i\u{307}"));
    assert!(!hit("x.iob"), "fields are separate");
}

#[test]
fn a_snapshot_keeps_what_it_saw_and_an_access_without_one_copies_nothing() {
    let mut s = state();
    s.apply(&Event::UserCreated(user("a@x.io", "A", "a@x.io", 2)));
    let before = s.users.get_arc("a@x.io").map(Arc::as_ptr);
    s.apply(&Event::UserAccessed {
        user_id: "a@x.io".into(),
        at: 5,
        state: UserState::Enabled,
    });
    assert_eq!(
        s.users.get_arc("a@x.io").map(Arc::as_ptr),
        before,
        "changed in place"
    );
    let snap = s.index.snapshot();
    s.apply(&Event::UserAccessed {
        user_id: "a@x.io".into(),
        at: 9,
        state: UserState::Disabled,
    });
    s.apply(&Event::UserCreated(user("b@x.io", "B", "b@x.io", 0)));
    let seen: Vec<(String, Option<i64>, UserState)> = snap
        .users()
        .map(|u| (u.user_id.clone(), u.last_accessed_at, u.state))
        .collect();
    assert_eq!(seen, vec![("a@x.io".into(), Some(5), UserState::Enabled)]);
    assert_eq!(s.users["a@x.io"].last_accessed_at, Some(9));
    assert_eq!(s.index.check(&s.users), Ok(()));
}
