//! Unit tests of the paginators.

use super::*;
use serde_json::json;

fn resp(headers: &[(&str, &str)]) -> Response {
    let mut h = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    Response {
        status: 200,
        headers: h,
        body: Vec::new(),
        url: url::Url::parse("http://x/a").unwrap(),
    }
}

fn cfg(v: Value) -> PaginatorConfig {
    let mut m = v.as_object().unwrap().clone();
    let kind = m.remove("type").unwrap().as_str().unwrap().to_string();
    PaginatorConfig { kind, params: m }
}

fn req() -> Request {
    Request {
        method: reqwest::Method::GET,
        url: url::Url::parse("http://x/api/items?a=1").unwrap(),
        params: Default::default(),
        headers: Default::default(),
        json: None,
        form: None,
    }
}

#[test]
fn offset_requests_like_dlt() {
    // limit 7, total 20: requests at 0, 7, 14.
    let mut p = Paginator::from_config(&cfg(json!({"type": "offset", "limit": 7})))
        .unwrap()
        .unwrap();
    let mut r = req();
    p.init_request(&mut r);
    let mut offsets = vec![r.params["offset"].clone()];
    loop {
        p.update_state(&resp(&[]), &json!({"total": 20}), 7)
            .unwrap();
        if !p.has_next() {
            break;
        }
        p.update_request(&mut r).unwrap();
        offsets.push(r.params["offset"].clone());
    }
    assert_eq!(offsets, ["0", "7", "14"]);
    assert_eq!(r.params["limit"], "7");
    let mut p = Paginator::from_config(&cfg(json!({"type": "offset", "limit": 7})))
        .unwrap()
        .unwrap();
    let e = p.update_state(&resp(&[]), &json!({"x": 1}), 7).unwrap_err();
    assert!(e.to_string().contains("total_path: null"), "{e}");
    assert!(
        Paginator::from_config(&cfg(json!({"type": "offset", "limit": 7, "total_path": null, "stop_after_empty_page": false})))
            .is_err()
    );
}

#[test]
fn page_number_total_counts_pages() {
    let mut p = Paginator::from_config(&cfg(
        json!({"type": "page_number", "base_page": 1, "total_path": "meta.pages"}),
    ))
    .unwrap()
    .unwrap();
    let mut r = req();
    p.init_request(&mut r);
    let mut pages = vec![r.params["page"].clone()];
    loop {
        p.update_state(&resp(&[]), &json!({"meta": {"pages": 3}}), 2)
            .unwrap();
        if !p.has_next() {
            break;
        }
        p.update_request(&mut r).unwrap();
        pages.push(r.params["page"].clone());
    }
    assert_eq!(pages, ["1", "2", "3"]);
}

#[test]
fn links_and_cursors() {
    let mut p = Paginator::from_config(&cfg(
        json!({"type": "json_link", "next_url_path": "paging.next"}),
    ))
    .unwrap()
    .unwrap();
    p.update_state(
        &resp(&[]),
        &json!({"paging": {"next": "/api/items?page=2"}}),
        1,
    )
    .unwrap();
    let mut r = req();
    r.params.insert("x".into(), "1".into());
    p.update_request(&mut r).unwrap();
    assert_eq!(r.full_url().as_str(), "http://x/api/items?page=2");
    p.update_state(&resp(&[]), &json!({"paging": {"next": null}}), 1)
        .unwrap();
    assert!(!p.has_next());

    let mut p = Paginator::from_config(&cfg(json!({"type": "header_link"})))
        .unwrap()
        .unwrap();
    p.update_state(
        &resp(&[(
            "link",
            "<http://x/b?p=2>; rel=\"next\", <http://x/b?p=9>; rel=\"last\"",
        )]),
        &json!([]),
        1,
    )
    .unwrap();
    let mut r = req();
    p.update_request(&mut r).unwrap();
    assert_eq!(r.url.as_str(), "http://x/b?p=2");

    let mut p = Paginator::from_config(&cfg(json!({"type": "cursor"})))
        .unwrap()
        .unwrap();
    p.update_state(&resp(&[]), &json!({"cursors": {"next": "abc"}}), 1)
        .unwrap();
    let mut r = req();
    p.update_request(&mut r).unwrap();
    assert_eq!(r.params["cursor"], "abc");
    p.update_state(&resp(&[]), &json!({"cursors": {"next": ""}}), 1)
        .unwrap();
    assert!(!p.has_next());

    let mut p = Paginator::from_config(&cfg(json!({"type": "header_cursor"})))
        .unwrap()
        .unwrap();
    p.update_state(&resp(&[("next", "c2")]), &json!([]), 1)
        .unwrap();
    let mut r = req();
    p.update_request(&mut r).unwrap();
    assert_eq!(r.params["cursor"], "c2");
}

#[test]
fn detection_order() {
    let d = |h: &[(&str, &str)], b: Value| Paginator::detect(&resp(h), &b).map(|p| p.describe());
    assert_eq!(
        d(
            &[("link", "<http://x/2>; rel=\"next\"")],
            json!({"next": "http://y"})
        )
        .unwrap(),
        "HeaderLinkPaginator(links_next_key=next)"
    );
    assert_eq!(
        d(
            &[],
            json!({"data": [], "links": {"nextPage": {"href": "http://x/2"}}})
        )
        .unwrap(),
        "JSONLinkPaginator(next_url_path=links.nextPage.href)"
    );
    assert_eq!(
        d(
            &[],
            json!({"data": [], "meta": {"total_pages": 4}, "next_cursor": "zz"})
        )
        .unwrap(),
        "PageNumberPaginator(page_param=page, total_path=meta.total_pages)"
    );
    assert_eq!(
        d(&[], json!({"data": [], "next_cursor": "zz"})).unwrap(),
        "JSONResponseCursorPaginator(cursor_path=next_cursor, cursor_param=cursor)"
    );
    assert!(d(&[], json!({"data": []})).is_none());
}
