//! The oauth2 role's form bodies: a `multipart/form-data` body at the token endpoint is read
//! part by part up to a bound, so a body of many tiny parts is refused with a reason instead
//! of being read whole.

use serde_json::Value;

use super::harness::{client, Server};

/// A multipart body of `n` tiny parts named `p<i>`.
fn multipart(n: usize) -> (String, String) {
    let boundary = "quartet-boundary".to_string();
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"p{i}\"\r\n\r\nx\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_token(server: &Server, parts: usize) -> (u16, Value) {
    let (content_type, body) = multipart(parts);
    let r = client()
        .post(format!("{}/oauth2/token", server.url("oauth2", "public")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn multipart_bodies_of_more_than_1000_parts_are_refused_naming_the_limit() {
    let mut server = Server::dev();
    let (status, body) = post_token(&server, 1001).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains("more than 1000 multipart parts"),
        "{body}"
    );
    // 1000 parts are read (and then refused for what they say, not for their number)
    let (status, body) = post_token(&server, 1000).await;
    assert_eq!(status, 400, "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(!description.contains("multipart parts"), "{body}");
    assert!(server.alive());
}
