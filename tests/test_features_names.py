"""Reading songs out of post titles and names: the parser and normalisation rules."""
import pytest

from contextlm.features.names import normalize, split_artists, split_title, track_id_from
from contextlm.features.titles import parse_post_title


@pytest.mark.parametrize("title, artist, song", [
    ('Mt. Jade - "Silver Lantern"', "Mt. Jade", "Silver Lantern"),
    ("Velvet Owls – Paper Boats", "Velvet Owls", "Paper Boats"),
    ("TUNES // Teal Ravine – Hall Of\xa0Mirrors", "Teal Ravine", "Hall Of Mirrors"),
    ("[Streaming]: Drumwire – “Hype Down”", "Drumwire", "Hype Down"),
    ("Premiere: Sal Dalu - Dune Dream | Some Music Blog", "Sal Dalu", "Dune Dream"),
    ("Marion Hall - Subtle Thing - someblog", "Marion Hall", "Subtle Thing"),
    ("Kaila Morg: “Do You Feel This” (feat. Wheton)", "Kaila Morg", "Do You Feel This"),
    ("song: \"A Lot Of Things\" - Bonny Dune", "Bonny Dune", "A Lot Of Things"),
    ("Glasso - Night Owl :", "Glasso", "Night Owl"),
    ("Now Playing: Superhart – 'After Dark'", "Superhart", "After Dark"),
    ("Rejie Snow // Egypt Lover (ft.\xa0Amine)", "Rejie Snow", "Egypt Lover (ft. Amine)"),
    ("Still Wavy - Goodie Box :: Indie Blog", "Still Wavy", "Goodie Box"),
    ("Janel Monet, PYNKY (feat. Grimy) | Blog", "Janel Monet", "PYNKY (feat. Grimy)"),
    ("First Listen: Manilo Kila feat. Neve – Everyday, Everyday", "Manilo Kila feat. Neve", "Everyday, Everyday"),
])
def test_artist_title_forms(title, artist, song):
    q = parse_post_title(title)
    assert (q.artist, q.title) == (artist, song)


@pytest.mark.parametrize("title, song, context_has", [
    ("Tulo Shares The Visuals For 'Bulleted'", "Bulleted", "Tulo"),
    ("Fredo Nico is back with a single \"Lennox Loved Yoko\"", "Lennox Loved Yoko", "Fredo Nico"),
    ("“You’ve Been My Guy” by Knoxy White is funky", "You've Been My Guy", "Knoxy White"),
    ("Logan Spits Bars on New Song ''44 Less'' - XXZ", "44 Less", "Logan"),
    ("Rockstar Ride (feat. 22 Savvy) by Post Malony", "Rockstar Ride (feat. 22 Savvy)", "Post Malony"),
])
def test_sentence_forms_keep_the_sentence_as_context(title, song, context_has):
    q = parse_post_title(title)
    assert q.artist is None and q.title == song and context_has in q.context


@pytest.mark.parametrize("title", ["", None, "   ", "ANOTHER LIGHT", "Going Solo", "⚡"])
def test_titles_naming_no_song(title):
    assert parse_post_title(title) is None


def test_possessive_apostrophe_is_not_a_quote():
    q = parse_post_title("Logan's new one: Paper Planes")
    assert q is not None and q.title == "Paper Planes"


def test_split_title_versions_and_credits():
    p = split_title("I Don't Mind (with Jay Bee) - Loud Lux Remix")
    assert (p.full, p.version, p.featured) == ("I Don't Mind", "loud lux remix", ("Jay Bee",))
    assert split_title("Hey Judy - Remastered 2015").version == ""       # same recording
    assert split_title("Hey Judy - Original Mix").version == ""
    assert split_title("Hey Judy [Live]").version == "live"
    assert split_title("Threw You ft. Jet Horns (2018)").full == "Threw You"
    p = split_title("It Makes You Forget (Itgehane)")                       # a bracket that is the title
    assert (p.full, p.short) == ("It Makes You Forget (Itgehane)", "It Makes You Forget")


def test_normalize():
    assert normalize("The Mt. Jade & Friends") == "mt jade and friends"
    assert normalize("Hôy Là") == normalize("hoy la") == "hoy la"
    assert normalize("Don’t  Stop!") == "dont stop"
    assert normalize("Ã©tÃ©") == "ete"         # mojibake repaired first
    assert normalize(None) == ""


def test_split_artists():
    assert split_artists("Sofa Tucker x NERVA, The Knacks & Alisa U") == ["Sofa Tucker", "NERVA", "The Knacks", "Alisa U"]


@pytest.mark.parametrize("value", ["fk00000000000000000007", "spotify:track:fk00000000000000000007",
                                   "https://open.spotify.com/track/fk00000000000000000007?si=abc",
                                   "open.spotify.com/intl-de/track/fk00000000000000000007"])
def test_track_ids(value):
    assert track_id_from(value) == "fk00000000000000000007"


@pytest.mark.parametrize("value, reason", [
    ("https://open.spotify.com/album/fk00000000000000000007", "album link, not a track"),
    ("spotify:artist:fk00000000000000000007", "artist link"),
    ("not an id", "is not a Spotify track id"),
    ("spotify:track:short", "not 22 letters"),
])
def test_bad_track_ids_say_why(value, reason):
    with pytest.raises(ValueError, match=reason):
        track_id_from(value)
