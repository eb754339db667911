"""Word lists for realistic generated rosters (US-style names, towns, courses)."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Olivia Liam Emma Noah Ava Elijah Sophia Mateo Isabella Lucas Mia Levi Amelia Ezra Harper "
    "Asher Evelyn Leo Abigail James Emily Luca Ella Henry Elizabeth Hudson Camila Ethan Luna "
    "Muhammad Sofia Maverick Avery Jack Mila Aiden Aria Owen Scarlett Daniel Penelope Sebastian "
    "Layla Wyatt Chloe Michael Victoria Gabriel Madison Julian Eleanor Benjamin Grace Samuel "
    "Nora Carter Riley Jayden Zoey Logan Hannah David Hazel Kai Lily Isaiah Ellie Jaxon Violet "
    "Santiago Lillian Josiah Zoe Anthony Stella Dylan Aurora Thomas Natalie Joseph Emilia "
    "Grayson Everly Jacob Leah Nathan Aubrey Ryan Willow Adrian Addison Angel Lucy Miles Audrey "
    "Wei Priya Aarav Ananya Hiroshi Yuki Fatima Omar Amara Kwame Thanh Minh Ximena Diego Valentina "
    "Jose Guadalupe Malik Imani DeShawn Keisha Connor Siobhan Rafael Ingrid Tomas Aisha"
)

LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers "
    "Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson "
    "Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo "
    "Sanders Patel Myers Long Ross Foster Jimenez Chen Wang Singh Tran Okafor Mensah Yamamoto "
    "Kowalski Novak Haddad Begay Yazzie O'Brien Fitzgerald"
)

TOWNS = _words(
    "Springfield Riverside Franklin Greenville Bristol Clinton Fairview Salem Madison Georgetown "
    "Arlington Ashland Oxford Jackson Burlington Manchester Milton Dayton Dover Hudson Kingston "
    "Lexington Marion Newport Auburn Bedford Camden Chester Cleveland Columbia Concord Lancaster "
    "Lebanon Monroe Oakland Plymouth Richmond Troy Winchester Hamilton Centerville Shelby Jefferson "
    "Lincoln Washington Union Glendale Mesa Tempe Boulder Eugene Fresno Modesto Tucson Provo Ogden "
    "Spokane Tacoma Yakima Bend Reno Sparks Laramie Casper Billings Bozeman Fargo Bismarck Omaha "
    "Lincolnshire Topeka Wichita Tulsa Norman Amarillo Lubbock Waco Tyler Shreveport Biloxi Mobile "
    "Macon Augusta Athens Savannah Durham Raleigh Asheville Roanoke Norfolk Frederick Annapolis "
    "Trenton Camarillo Hartford Stamford Nashua Bangor Brattleboro Montpelier Scranton Erie Akron "
    "Toledo Flint Lansing Kalamazoo Peoria Joliet Rockford Gary Evansville Duluth Rochester Ithaca"
)

DISTRICT_SUFFIXES = (
    "Unified School District",
    "Public Schools",
    "Independent School District",
    "County Schools",
    "School District",
    "Community Schools",
)

SCHOOL_KINDS = (
    ("Elementary School", "Kindergarten", "5"),
    ("Middle School", "6", "8"),
    ("High School", "9", "12"),
)

SCHOOL_NAMES = _words(
    "Lincoln Washington Jefferson Roosevelt Kennedy Franklin Edison Hawthorne Whittier Emerson "
    "Longfellow Riverside Oak Grove Maple Cedar Ridge Lakeview Hillcrest Sunnyside Valley Vista "
    "Pioneer Eastside Westside Northview Southgate Meadowbrook Parkside Brookside Fairmont"
)

# (subject enum value from the spec, course names)
COURSES = (
    ("math", ("Algebra I", "Geometry", "Algebra II", "Pre-Calculus", "Math 6", "Math 7")),
    ("english/language arts", ("English 9", "English 10", "ELA 6", "ELA 7", "Reading Workshop")),
    ("science", ("Biology", "Chemistry", "Physics", "Earth Science", "Life Science")),
    ("social studies", ("World History", "US History", "Civics", "Geography")),
    ("language", ("Spanish I", "Spanish II", "French I", "Mandarin I")),
    ("arts and music", ("Band", "Choir", "Studio Art")),
    ("technology and engineering", ("Computer Science", "Robotics")),
    ("PE and health", ("Physical Education", "Health")),
    ("homeroom/advisory", ("Homeroom", "Advisory")),
)

STAFF_TITLES = ("Director of Technology", "Curriculum Coordinator", "Data Specialist", "IT Manager")
SIS_TYPES = ("powerschool", "infinite_campus", "skyward", "sftp", "aeries", "synergy")
LOGIN_METHODS = ("Clever Badges", "Google", "Clever Passwords", "SAML", "LDAP", "Canvas")
