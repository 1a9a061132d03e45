//! The admin pages' shared frame and one small stylesheet. Server-rendered with maud, which
//! escapes every inserted value: raw HTML has to be marked (`PreEscaped`), and only the
//! stylesheet below is. No scripts.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::AdminBody;

/// Percent-encodes a query parameter value.
pub fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

const STYLE: &str = "
:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #6e6e73; --bg: #f5f5f7; --card: #fff;
  --line: #d2d2d7; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --accent: #6441a5; }
@media (prefers-color-scheme: dark) { :root { --fg: #f5f5f7; --muted: #a1a1a6; --bg: #111113;
  --card: #1c1c1e; --line: #38383a; --accent: #a970ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; color: var(--fg);
  background: var(--bg); }
main { max-width: 980px; margin: 0 auto; padding: 32px 20px 64px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 0; }
.sub { color: var(--muted); margin: 0 0 24px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 18px 20px;
  margin: 0 0 16px; }
.head { display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; margin-bottom: 10px; }
.kind { color: var(--muted); font-size: 13px; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; padding: 8px 6px; border-top: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; border-top: none; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; }
.valid { color: var(--ok); } .refreshing, .per_request { color: var(--warn); }
.needs_login, .error, .not_connected, .expired { color: var(--bad); } .why { font-size: 13px; color: var(--muted); }
a { color: var(--accent); } .button { display: inline-block; padding: 6px 14px; border-radius: 8px;
  background: var(--accent); color: #fff; text-decoration: none; font-weight: 600; }
form.connect { display: flex; gap: 8px; margin-top: 12px; }
input { font: inherit; padding: 5px 10px; border: 1px solid var(--line); border-radius: 8px;
  background: var(--bg); color: var(--fg); }
button { font: inherit; padding: 5px 14px; border-radius: 8px; border: 1px solid var(--accent);
  background: transparent; color: var(--accent); cursor: pointer; }
.scopes { color: var(--muted); font-size: 13px; } .empty { color: var(--muted); }
.result h1.ok { color: var(--ok); } .result h1.bad { color: var(--bad); }
.code { font: 700 32px/1.2 ui-monospace, 'SF Mono', Menlo, monospace; letter-spacing: 4px;
  margin: 8px 0 16px; }
";

/// A whole page.
pub fn page(status: StatusCode, title: &str, body: Markup) -> Response<AdminBody> {
    frame(status, title, body, None)
}

/// A whole page that reloads itself every `seconds` (a meta refresh: no script, so the
/// CSP stays as strict), for a page that waits on something.
pub fn refreshing_page(status: StatusCode, title: &str, body: Markup, seconds: u32) -> Response<AdminBody> {
    frame(status, title, body, Some(seconds))
}

fn frame(status: StatusCode, title: &str, body: Markup, refresh: Option<u32>) -> Response<AdminBody> {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) " · token-sidecar" }
                // The one raw insertion: a constant of this file.
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    };
    let mut resp = Response::new(AdminBody::new(Bytes::from(html.into_string())));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
    );
    resp
}

/// A page that tells what happened (`detail`) and what to do next (`next`).
pub fn outcome(
    status: StatusCode,
    ok: bool,
    title: &str,
    detail: Markup,
    next: Markup,
) -> Response<AdminBody> {
    let body = html! {
        div.card.result {
            h1 class=(if ok { "ok" } else { "bad" }) { (title) }
            p { (detail) }
            p { (next) }
            p { a href="/" { "Back to the token overview" } }
        }
    };
    page(status, title, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(resp: Response<AdminBody>) -> String {
        use http_body_util::BodyExt;
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn inserted_text_is_escaped_everywhere() {
        let evil = "<script>alert('x')</script>\"&";
        let resp = outcome(
            StatusCode::OK,
            true,
            evil,
            html! { "for " b { (evil) } },
            html! { a href=(evil) { (evil) } },
        );
        let page = text(resp).await;
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert('x')&lt;/script&gt;&quot;&amp;"),
            "{page}"
        );
        assert!(page.contains("<b>&lt;script&gt;"), "{page}");
    }
}
