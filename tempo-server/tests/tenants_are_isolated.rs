//! With multi-tenancy on, one tenant never sees another's data, and requests without a tenant
//! are refused, on both receivers and on the query API.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::{encode, request, trace_id};
use common::{Server, http_call};

#[test]
fn one_tenant_never_sees_another() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "multitenancy_enabled: true\n");
    let a = trace_id(11, 0);
    let b = trace_id(11, 1);
    let url = server.otlp_http();
    let proto = ("content-type", "application/x-protobuf");
    for (tenant, id) in [("team-a", a), ("team-b", b)] {
        let (status, _, body) = http_call(
            "POST",
            &url,
            &[proto, ("x-scope-orgid", tenant)],
            Some(&encode(&request(tenant, &[id], 2))),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    // No tenant: refused.
    let (status, _, _) = http_call(
        "POST",
        &url,
        &[proto],
        Some(&encode(&request("x", &[a], 1))),
    );
    assert_eq!(status, 401);
    let (status, _, body) = server.get(&format!("/api/traces/{}", hex::encode(a)), &[]);
    assert_eq!(status, 401);
    assert_eq!(String::from_utf8_lossy(&body), "no org id\n");
    // Bad tenant ID: refused with the reason.
    let (status, _, body) = server.get(
        &format!("/api/traces/{}", hex::encode(a)),
        &[("x-scope-orgid", "../etc")],
    );
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("invalid tenant ID"));

    let get = |tenant: &str, id: [u8; 16]| {
        server
            .get(
                &format!("/api/traces/{}", hex::encode(id)),
                &[("x-scope-orgid", tenant)],
            )
            .0
    };
    assert_eq!(get("team-a", a), 200);
    assert_eq!(get("team-b", b), 200);
    assert_eq!(get("team-a", b), 404);
    assert_eq!(get("team-b", a), 404);
    assert_eq!(get("team-c", a), 404);
    // gRPC: the tenant travels as metadata.
    let g = trace_id(11, 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let endpoint = server.otlp_grpc();
    rt.block_on(async {
        let body = encode(&request("grpc", &[g], 2));
        common::grpc::export(&endpoint, body.clone(), Some("team-g"))
            .await
            .unwrap();
        let err = common::grpc::export(&endpoint, body, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        assert_eq!(err.message(), "no org id");
    });
    assert_eq!(get("team-g", g), 200);
    assert_eq!(get("team-a", g), 404);

    // v2 answers "not found" with 200 and an empty trace, for the other tenant too.
    let (status, _, body) = server.get(
        &format!("/api/v2/traces/{}", hex::encode(a)),
        &[("x-scope-orgid", "team-b")],
    );
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&body),
        r#"{"trace":{},"metrics":{}}"#
    );
}
