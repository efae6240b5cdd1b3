"""The edge model's own rules, without AWS: how a browser encodes a key, what
an invalidation path matches, which URLs a site has."""

from edges import MISSING, Edge, requested, urls_for, viewer_url


class FakeOrigin:
    """A bucket of {key: etag} under no origin path."""

    def __init__(self, objects: dict[str, str], query_strings: bool = False):
        self.objects, self.index, self.query_strings = objects, "index.html", query_strings

    def get(self, url: str):
        key = url.split("?", 1)[0][1:] or "index.html"
        return key, self.objects.get(key, MISSING)


def test_a_browser_encodes_what_a_link_must_and_leaves_the_rest():
    assert viewer_url("docs/annual report 2026.pdf") == "/docs/annual%20report%202026.pdf"
    assert viewer_url("notes/issue#42.txt") == "/notes/issue%2342.txt"
    assert viewer_url("faq/why?.html") == "/faq/why%3F.html"
    assert viewer_url("sale/50%-off.html") == "/sale/50%25-off.html"
    assert viewer_url("data/items[2].json") == "/data/items%5B2%5D.json"
    assert viewer_url("img/café.jpg") == "/img/caf%C3%A9.jpg"
    assert viewer_url("~alice/c++ a=b&c;d@e,f.txt") == "/~alice/c++%20a=b&c;d@e,f.txt"


def test_index_documents_are_served_at_the_directory_too():
    assert urls_for({"index.html", "docs/index.html", "docs/a.txt"}, "index.html") == {
        "/",
        "/index.html",
        "/docs/",
        "/docs",
        "/docs/index.html",
        "/docs/a.txt",
    }


def test_an_invalidation_matches_byte_for_byte_or_as_a_prefix():
    edge = Edge("e", FakeOrigin({"~a/x": "1", "dir/a": "1", "dir/b": "1", "other": "1"}))
    for url in ("/~a/x", "/dir/a", "/dir/b", "/other"):
        edge.request(url)
    assert edge.invalidate(["/%7Ea/x"]) == []
    assert sorted(edge.invalidate(["/dir/*"])) == ["/dir/a", "/dir/b"]
    assert edge.invalidate(["/OTHER"]) == []
    assert edge.invalidate(["/other"]) == ["/other"]


def test_a_cached_copy_is_stale_once_the_origin_changes():
    origin = FakeOrigin({"a.css": "1"})
    edge = Edge("e", origin)
    assert not edge.request("/a.css").stale
    origin.objects["a.css"] = "2"
    assert edge.request("/a.css").stale
    del origin.objects["a.css"]
    assert edge.request("/a.css").stale  # deleted, still served
    edge.invalidate(["/a.css"])
    assert not edge.request("/a.css").stale


def test_with_query_strings_in_the_cache_key_each_is_cached_apart():
    origin = FakeOrigin({"app.js": "1"}, query_strings=True)
    edge = Edge("e", origin)
    urls = requested("/app.js", True)
    assert urls == ["/app.js", "/app.js?v=1", "/app.js?utm_source=x"]
    assert [edge.request(u).from_cache for u in urls] == [False, False, False]
    origin.objects["app.js"] = "2"
    assert all(edge.request(u).stale for u in urls)
    # The path alone leaves the variants, as CloudFront's guide says.
    assert edge.invalidate(["/app.js"]) == ["/app.js"]
    assert [edge.request(u).stale for u in urls] == [False, True, True]
    assert sorted(edge.invalidate(["/app.js*"])) == sorted(urls)
    assert not any(edge.request(u).stale for u in urls)
    # Without query strings in the key, one copy serves them all.
    plain = Edge("p", FakeOrigin({"app.js": "1"}))
    plain.request("/app.js")
    assert plain.request("/app.js?v=1").from_cache
    assert requested("/app.js", False) == ["/app.js"]
