//! Many concurrent clients creating and updating users in several domains end with exactly the
//! expected state.

mod common;
use common::*;
use identityd::api::*;
use identityd::client::ctx;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_across_domains_end_in_the_expected_state() {
    let s = TestServer::start();
    let c0 = s.client().await;
    let mut domains = Vec::new();
    for i in 0..3 {
        domains.push(domain(&c0, &s.key, &format!("d{i}")).await);
    }
    const CLIENTS: usize = 8;
    const USERS: usize = 40;
    let mut tasks = Vec::new();
    for w in 0..CLIENTS {
        let c = s.client().await;
        let doms: Vec<(String, Credential)> = domains
            .iter()
            .map(|d| (d.id.clone(), d.admin.clone()))
            .collect();
        tasks.push(tokio::spawn(async move {
            for u in 0..USERS {
                let (did, cred) = &doms[(w + u) % doms.len()];
                let uid = format!("w{w}-u{u}@x.io");
                c.user_create(ctx(), cred.clone(), new_user(did, &uid))
                    .await
                    .unwrap()
                    .unwrap();
                // Every writer also renames every user it created, twice; the last name wins.
                for n in 0..2 {
                    let up = UpdateUserRequest {
                        user_id: uid.clone(),
                        domain_id: did.clone(),
                        name: Some(format!("n{n}-{uid}")),
                        ..Default::default()
                    };
                    c.user_update(ctx(), cred.clone(), up)
                        .await
                        .unwrap()
                        .unwrap();
                }
                // A duplicate create from the same writer must be refused, not applied twice.
                let dup = c
                    .user_create(ctx(), cred.clone(), new_user(did, &uid))
                    .await
                    .unwrap();
                assert_eq!(dup.unwrap_err().code, ErrorCode::SaveUniqueValues);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut total = 0;
    for (i, d) in domains.iter().enumerate() {
        let q = UserQuery {
            domain_id: d.id.clone(),
            ..Default::default()
        };
        let list = call!(c0.user_list(ctx(), d.admin.clone(), q)).unwrap();
        let expected: usize = (0..CLIENTS)
            .map(|w| (0..USERS).filter(|u| (w + u) % 3 == i).count())
            .sum();
        assert_eq!(list.total_count as usize, expected + 1, "domain {i}");
        for u in list.results.iter().filter(|u| u.user_id != d.admin_id) {
            assert_eq!(
                u.name.as_deref(),
                Some(format!("n1-{}", u.user_id).as_str())
            );
        }
        total += expected;
    }
    assert_eq!(total, CLIENTS * USERS);
}
