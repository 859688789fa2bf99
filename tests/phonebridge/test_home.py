from __future__ import annotations


def test_the_site_root_leads_to_the_operators_console(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/calls/call/"
