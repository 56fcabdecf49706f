"""Flask extensions, created unbound here and bound to the app in the factory."""
from apifairy import APIFairy
from flask_marshmallow import Marshmallow

apifairy = APIFairy()
ma = Marshmallow()
