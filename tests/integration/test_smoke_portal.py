"""First checks that the fixtures wire up the app on both databases."""


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_kari_lists_her_letters_unread_first(client, login):
    response = client.get("/api/v1/me/letters", headers=login("14838542035"))
    assert response.status_code == 200
    letters = response.json["letters"]
    assert response.json["unread_count"] == 3
    assert [letter["unread"] for letter in letters] == [True, True, True, False]
    assert letters[0]["title"] == "Feievarsel for Fjellveien 12"
