#!/usr/bin/python3
"""gen_artwork.py: SYNTHETIC artwork variants for a MovieLens catalog (movies.csv -> artwork.csv).

MovieLens has no artwork. For the demo (and for testing the bandit policies' member x artwork
features) this script invents 3-6 variants per title, deterministically from the title id and
its genres: a composition (closeup, group, landscape, action-shot, text-heavy), a tone (dark,
bright, warm, cool) and a cue from one of the title's genres (e.g. Horror -> shadow). Nothing
here describes real posters. Output: `title,artwork,features` with artwork ids "<title>-a<k>".

usage: gen_artwork.py data/ml-latest-small/movies.csv > data/ml-latest-small/artwork.csv
"""
import csv
import hashlib
import sys

COMPOSITION = ["closeup", "group", "landscape", "action-shot", "text-heavy"]
TONE = ["dark", "bright", "warm", "cool"]
CUE = {
    "Action": "explosion", "Adventure": "vista", "Animation": "cartoon", "Children": "family",
    "Comedy": "smile", "Crime": "city-night", "Documentary": "archival", "Drama": "portrait",
    "Fantasy": "magic", "Film-Noir": "silhouette", "Horror": "shadow", "IMAX": "spectacle",
    "Musical": "stage", "Mystery": "fog", "Romance": "couple", "Sci-Fi": "neon",
    "Thriller": "tension", "War": "soldiers", "Western": "desert",
}


def h(*parts):
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little")


def main():
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["title", "artwork", "features"])
    with open(sys.argv[1], newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            t = row["movieId"]
            genres = [g for g in row["genres"].split("|") if g in CUE] or [None]
            n = 3 + h(t, "n") % 4
            for k in range(1, n + 1):
                tags = [COMPOSITION[h(t, k, "c") % len(COMPOSITION)], TONE[h(t, k, "t") % len(TONE)]]
                g = genres[(k - 1) % len(genres)]
                if g:
                    tags.append(CUE[g])
                out.writerow([t, f"{t}-a{k}", ";".join(tags)])


if __name__ == "__main__":
    main()
