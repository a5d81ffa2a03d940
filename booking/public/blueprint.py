"""The public blueprint itself."""

from flask import Blueprint

bp = Blueprint("public", __name__)
